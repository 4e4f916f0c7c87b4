"""Mis productos y servicios: the sub-tabs and the movements of each product."""
