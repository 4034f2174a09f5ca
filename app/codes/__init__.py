"""National code tables as data, with one loader each."""
