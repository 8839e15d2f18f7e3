"""Customer-facing texts in English."""

from __future__ import annotations

LANGUAGE = "en"

WEEKDAYS_SHORT = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAYS_LONG = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

TEXTS = {
    "handoff": "I'm bringing in someone from our team to help you. One moment, please.",
    "handoff_out_of_hours": "{base} Our team is out of office right now and will be back {back}.",
    "back_today": "today at {at}",
    "back_tomorrow": "tomorrow at {at}",
    "back_on_day": "on {day} at {at}",
    "attachment_ack": "I got {what}, but I can't listen to audio or open images or files here yet. "
    "Could you type what you need, please?",
    "attachment_note": "(I also got your attachment, but I can't open it here. "
    "If it matters, tell me in text what it shows.)",
    "what_audio": "your audio",
    "what_video": "your video",
    "what_image": "your image",
    "what_file": "your file",
    "only_text": "I can only read text for now — could you write your question?",
    "greeting": "Hi! Welcome to {business}. I can help with products, prices, delivery "
    "or booking an appointment.",
    "welcome": "You're welcome! Anything else?",
    "our_hours": "Our hours: {hours}.",
    "we_are_at": "We are at {address}.",
    "phone_is": "Phone: {phone}.",
    "products_found": "Here is what I found:",
    "anything_else": "Would you like anything else?",
    "service_offer": "{service}. Would you like to book it? Just ask for a time.",
    "no_booking": "You have no upcoming appointment with us.",
    "cancelled_list": "Cancelled:\n{listed}",
    "slot_taken": "Sorry, that time was just taken.",
    "booked": 'Done! Your appointment is confirmed: {booking}. To cancel, just write "cancel".',
    "free_times": "These are the next free times:",
    "reply_with_number": "Reply with the option number.",
    "slot_when": "{day} {start:%m/%d} at {start:%H:%M}",
    "cancelled_mark": " (cancelled)",
    "in_stock": "in stock: {stock}",
    "out_of_stock": "out of stock",
    "closed": "closed",
    "hours_label": "Hours: ",
    "address_label": "Address",
    "phone_label": "Phone",
    "website_label": "Website",
    "policies_label": "Policies",
    "tool_no_product": "No product found.",
    "tool_product_not_found": "Product {sku} not found.",
    "tool_no_faq": "Nothing found in the FAQ.",
    "tool_no_services": "No services.",
    "tool_no_free_slot": "No free slot.",
    "tool_refused": "This could not be done now; someone from our team will follow up.",
    "tool_slot_gone": "That slot is no longer free. Free slots:\n",
    "tool_cannot_book": "Could not book: {error}",
    "tool_booking_not_found": "Booking {booking_id} not found.",
    "tool_booking_cancelled": "Booking {booking_id} cancelled.",
}
