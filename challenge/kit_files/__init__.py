"""Files the starter kits carry (the example program of code phases); read, never imported."""
