"""`storemon report`: being built (issue 2)."""
