"""Cast-shadow direction per segment, and what it says about time of day."""
