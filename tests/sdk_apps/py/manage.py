#!/usr/bin/env python
"""The inngest-py test app's manage.py: `python manage.py runserver --noreload 127.0.0.1:$PORT`."""

import os
import sys

if __name__ == "__main__":
    # Assigned, not setdefault: the tests that start this app run under DJANGO_SETTINGS_MODULE=tests.settings.
    os.environ["DJANGO_SETTINGS_MODULE"] = "pyapp.settings"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
