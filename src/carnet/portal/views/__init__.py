"""Portal views, one module per area (account, home, and one per section as they arrive)."""
