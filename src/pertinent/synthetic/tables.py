"""Static tables of the synthetic shop: vocabulary per category, brands, article titles, real user agents,
countries, referrers, the hourly shape of traffic, first names."""

from __future__ import annotations

import numpy as np

__all__ = [
    "ARTICLE_TEMPLATES",
    "BRANDS",
    "CAMPAIGN_REFERRER",
    "COUNTRIES",
    "COUNTRY_WEIGHTS",
    "DEVICE_TYPES",
    "DEVICE_WEIGHTS",
    "FIRST_NAMES",
    "HOURLY",
    "IDENTITIES",
    "REFERRERS",
    "REFERRER_CUM",
    "SYLLABLES",
    "USER_AGENTS",
    "VOCAB",
]

VOCAB: list[tuple[str, list[str], list[str], list[str]]] = [
    # category, nouns, modifiers, tags
    (
        "electronics",
        ["headphones", "speaker", "charger", "keyboard", "monitor", "webcam", "router", "earbuds"],
        ["wireless", "bluetooth", "usb-c", "noise-cancelling", "smart", "portable"],
        ["gadgets", "tech", "audio", "accessories", "wireless"],
    ),
    (
        "books",
        ["novel", "cookbook", "biography", "thriller", "anthology", "atlas", "memoir", "guidebook"],
        ["paperback", "hardcover", "illustrated", "bestselling", "classic", "annotated"],
        ["reading", "fiction", "nonfiction", "literature", "gift"],
    ),
    (
        "fashion",
        ["jacket", "sneakers", "dress", "scarf", "jeans", "sweater", "boots", "handbag"],
        ["linen", "leather", "denim", "slim-fit", "vintage", "woolen"],
        ["style", "apparel", "seasonal", "streetwear", "outfit"],
    ),
    (
        "home",
        ["lamp", "cushion", "rug", "vase", "curtains", "candle", "blanket", "shelf"],
        ["ceramic", "cozy", "scandinavian", "velvet", "oak", "minimalist"],
        ["decor", "interior", "living", "cosy", "furnishing"],
    ),
    (
        "beauty",
        ["serum", "moisturizer", "lipstick", "shampoo", "perfume", "mascara", "cleanser", "sunscreen"],
        ["organic", "hydrating", "vegan", "matte", "fragrance-free", "herbal"],
        ["skincare", "makeup", "selfcare", "cosmetics", "haircare"],
    ),
    (
        "sports",
        ["dumbbells", "yoga-mat", "racket", "treadmill", "jersey", "football", "kettlebell", "bicycle"],
        ["adjustable", "lightweight", "pro", "breathable", "carbon", "training"],
        ["fitness", "workout", "training", "running", "gym"],
    ),
    (
        "toys",
        ["puzzle", "robot", "doll", "blocks", "boardgame", "plushie", "kite", "train-set"],
        ["educational", "wooden", "colorful", "interactive", "giant", "magnetic"],
        ["kids", "play", "family", "learning", "games"],
    ),
    (
        "garden",
        ["planter", "hose", "shears", "seeds", "compost", "birdhouse", "trowel", "lantern"],
        ["terracotta", "weatherproof", "solar", "perennial", "galvanized", "heirloom"],
        ["gardening", "outdoor", "plants", "patio", "growing"],
    ),
    (
        "grocery",
        ["coffee", "olive-oil", "chocolate", "tea", "pasta", "honey", "granola", "spices"],
        ["artisan", "fair-trade", "gluten-free", "roasted", "single-origin", "wholegrain"],
        ["food", "pantry", "gourmet", "snacks", "organic"],
    ),
    (
        "music",
        ["guitar", "vinyl", "ukulele", "drumsticks", "amplifier", "keyboard-stand", "microphone", "capo"],
        ["acoustic", "electric", "studio", "remastered", "tuned", "analog"],
        ["instruments", "records", "audio", "musicians", "studio"],
    ),
    (
        "pets",
        ["leash", "catnip", "kibble", "aquarium", "dog-bed", "scratcher", "collar", "birdseed"],
        ["chewproof", "grain-free", "reflective", "orthopedic", "catnip-filled", "washable"],
        ["dogs", "cats", "petcare", "treats", "animals"],
    ),
    (
        "travel",
        ["backpack", "suitcase", "passport-holder", "neck-pillow", "tent", "compass", "duffel", "adapter"],
        ["carry-on", "waterproof", "foldable", "rugged", "ultralight", "hardshell"],
        ["adventure", "luggage", "camping", "trips", "outdoor"],
    ),
]
BRANDS = [
    "Northwind",
    "Acme",
    "Lumen",
    "Bramble",
    "Kestrel",
    "Solstice",
    "Harbor",
    "Vertex",
    "Juniper",
    "Atlas",
    "Cobalt",
    "Meridian",
    "Pioneer",
    "Quill",
    "Riverside",
    "Summit",
]
SYLLABLES = ["ka", "lo", "mi", "ra", "ven", "tor", "sa", "bel", "dri", "no", "qua", "zen", "fi", "mar", "po"]
ARTICLE_TEMPLATES = [
    "How to choose the right {noun}",
    "{n} {modifier} {noun}s we love this season",
    "The beginner's guide to {tag}",
    "Why a {modifier} {noun} is worth it",
    "Caring for your {noun}: a {tag} checklist",
    "{tag} trends: what's new in {category}",
]

# Real browser user agents (desktop / mobile / tablet).
USER_AGENTS: dict[str, list[str]] = {
    "desktop": [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4.1 Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
    ],
    "mobile": [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.82 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
    ],
    "tablet": [
        "Mozilla/5.0 (iPad; CPU OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.82 Safari/537.36",
    ],
}
DEVICE_TYPES = ["desktop", "mobile", "tablet"]
DEVICE_WEIGHTS = np.array([0.45, 0.45, 0.10])
# country, locale, timezone, weight
COUNTRIES = [
    ("US", "en-US", "America/New_York", 0.20),
    ("US", "en-US", "America/Los_Angeles", 0.10),
    ("GB", "en-GB", "Europe/London", 0.14),
    ("DE", "de-DE", "Europe/Berlin", 0.10),
    ("FR", "fr-FR", "Europe/Paris", 0.08),
    ("ES", "es-ES", "Europe/Madrid", 0.05),
    ("IT", "it-IT", "Europe/Rome", 0.05),
    ("NL", "nl-NL", "Europe/Amsterdam", 0.04),
    ("CA", "en-CA", "America/Toronto", 0.05),
    ("BR", "pt-BR", "America/Sao_Paulo", 0.05),
    ("IN", "en-IN", "Asia/Kolkata", 0.05),
    ("JP", "ja-JP", "Asia/Tokyo", 0.04),
    ("AU", "en-AU", "Australia/Sydney", 0.05),
]
COUNTRY_WEIGHTS = np.array([c[3] for c in COUNTRIES]) / sum(c[3] for c in COUNTRIES)
# Referrer of a non-campaign session (None = direct traffic).
REFERRERS: list[tuple[str | None, float]] = [
    (None, 0.40),
    ("https://www.google.com/", 0.35),
    ("https://www.bing.com/", 0.07),
    ("https://www.facebook.com/", 0.06),
    ("https://www.instagram.com/", 0.05),
    ("https://duckduckgo.com/", 0.04),
    ("https://www.pinterest.com/", 0.03),
]
REFERRER_CUM = np.cumsum([w for _, w in REFERRERS])
CAMPAIGN_REFERRER = {
    "cpc": "https://www.google.com/",
    "social": "https://www.facebook.com/",
    "display": "https://ads.example.net/",
    "email": None,
}
# Share of sessions starting at each local hour (quiet at night, peaks at lunch and in the evening).
HOURLY = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 4, 4.5, 5, 4.5, 4, 4, 4.5, 5, 6, 7, 7.5, 6.5, 4.5, 2.5])
HOURLY = HOURLY / HOURLY.sum()
IDENTITIES = ["known", "identified_later", "anonymous"]
FIRST_NAMES = [
    "Alex",
    "Sam",
    "Maria",
    "Yuki",
    "Lena",
    "Omar",
    "Priya",
    "Jonas",
    "Chloe",
    "Diego",
    "Ava",
    "Noah",
    "Mia",
    "Luca",
    "Zoe",
    "Ethan",
]
