"""Concrete jobs: each module holds one small Job subclass and its pure transforms."""
