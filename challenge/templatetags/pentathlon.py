from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict | None, key: str):
    """`{{ metrics|get_item:"R1" }}`: dictionary lookup for keys that are not identifiers."""
    if not mapping:
        return None
    return mapping.get(key)
