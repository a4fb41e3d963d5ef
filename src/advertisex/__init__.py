"""AdvertiseX lakehouse: ad-tech feeds into bronze/silver/gold Delta tables."""

__version__ = "0.1.0"
