"""Who may sign in: passwords, the login throttle, the original app's tokens."""
