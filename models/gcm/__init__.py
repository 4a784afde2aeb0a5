"""The simplified spectral GCM (models.md §4): dry core and Thatcher–Jablonowski moist physics."""
