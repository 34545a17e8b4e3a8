"""What a tweet is: parsing v2 payloads (parse.py) and matching track terms (track.py)."""
