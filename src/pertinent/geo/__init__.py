"""Where a visitor is: country, region and city from the request IP, before the IP is anonymised (geo/locate.py)."""
