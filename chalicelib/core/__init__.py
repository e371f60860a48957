"""Core: settings, errors, ids, cursors, keys, signing, observability. Imports nothing of ours."""
