"""HTML pages: the registration form and the live status of one registration."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from asyncportal import clientip
from asyncportal.queues import REGISTRATIONS
from registration import selectors, throttle
from registration.errors import RateLimited
from registration.forms import RegistrationForm, submit

# The way a registration goes, step by step; failed and rejected stop it at "processing".
STEPS = (("pending", "Stored"), ("queued", "Queued"), ("processing", "Processing"), ("done", "Done"))


class HttpResponseSeeOther(HttpResponseRedirect):
    status_code = 303


def status_steps(status: str) -> list[tuple[str, str, str]]:
    """Return each step's name, label and state: complete, current, todo or failed (status.js mirrors it)."""
    names = [name for name, _ in STEPS]
    if status == "done":
        return [(name, label, "complete") for name, label in STEPS]
    # Failed and rejected are decided by the job, so they stop the way at "processing".
    reached, here = (names.index(status), "current") if status in names else (names.index("processing"), "failed")
    return [
        (name, label, "complete" if i < reached else here if i == reached else "todo")
        for i, (name, label) in enumerate(STEPS)
    ]


@require_http_methods(["GET", "HEAD", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    """Show the form; on a valid POST store the registration and redirect to its status page."""
    if request.method != "POST":
        return render(request, "registration/register.html", {"form": RegistrationForm()})
    try:
        throttle.registration_admit(client=clientip.from_request(request))
    except RateLimited as exc:
        return _refused(request, exc)
    form = RegistrationForm(request.POST)
    registration = submit(form)
    if registration is None:
        form.autofocus_first_error()
        # 422: the submission was understood but refused; browsers render the page with its errors all the same.
        return render(request, "registration/register.html", {"form": form}, status=422)
    return HttpResponseSeeOther(reverse("registration:status", args=[registration.pk]))


def _refused(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    # Unbound, so nothing is validated (no answer about the login), yet what was typed is shown again.
    form = RegistrationForm(initial=request.POST.dict())
    context = {"form": form, "refusal": exc.errors["__all__"][0]}
    response = render(request, "registration/register.html", context, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


@require_safe
def status(request: HttpRequest, registration_id: uuid.UUID) -> HttpResponse:
    """Show the job id, queue and status of one registration; status.js keeps the status live."""
    registration = selectors.registration_get(registration_id=registration_id)
    if registration is None:
        raise Http404("No such registration")
    context = {"registration": registration, "queue": REGISTRATIONS, "steps": status_steps(registration.status)}
    return render(request, "registration/status.html", context)
