"""Shipping jobs to Amazon EMR: package dist/ (package.py), the step JSON (steps.py), add a step to a
cluster (submit.py), upload dist/ to S3 (deploy.py). main.py is the spark-submit entry point of a release."""
