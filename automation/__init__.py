"""Rules, schedules, sequences, templates, consent: automation lands in a later issue."""
