"""H.225.0, H.245 and RAS PDUs extracted from captures of ooh323c calls."""
