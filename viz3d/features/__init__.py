"""Feature maps, activation maximisation and deep feature factorisation (computation only)."""
