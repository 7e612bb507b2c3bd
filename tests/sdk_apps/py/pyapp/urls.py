"""inngest-py's Django integration at /api/inngest (its default serve path)."""

import inngest.django

from pyapp.functions import client, functions

urlpatterns = [inngest.django.serve(client, functions)]
