"""Rules and refusals both doors share: one table of rules, hostile input, fuzzing."""
