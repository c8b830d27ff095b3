"""The project itself: import directions, declared dependencies, the lock, the bench."""
