"""Which categories complete an outfit for a given one."""

CATEGORY_COMPATIBILITY = {
    "upperwear_shirt": ["bottomwear_pants", "bottomwear_skirt", "footwear_shoes"],
    "upperwear_tshirt": ["bottomwear_pants", "bottomwear_shorts", "footwear_sneakers"],
    "bottomwear_pants": ["upperwear_shirt", "upperwear_tshirt", "footwear_shoes"],
    "one-piece_dress": ["footwear_heels", "accessories_bag"],
}
