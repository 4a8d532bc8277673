"""Where a clip is cut, and what each piece looks like technically."""
