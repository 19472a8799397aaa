"""Deployment helpers; `deploy.local` starts the stack on this machine without Docker."""
