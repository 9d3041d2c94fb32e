"""A message's body for a timeline: its text, else a line for what it carries instead."""

from __future__ import annotations

from channels.telegram.update import TelegramMessage


def describe(message: TelegramMessage) -> str:
    """The text or caption as written; for a message without one, a line saying what came:
    the files, the place (venue or coordinates) or the contact card."""
    if message.text.text:
        return message.text.text
    lines = [media.summary() for media in message.media]
    if message.venue is not None:
        lines.append(f"Venue: {message.venue.title}, {message.venue.address}")
    elif message.location is not None:
        place = f"Location: {message.location.latitude}, {message.location.longitude}"
        accuracy = message.location.horizontal_accuracy
        lines.append(place + (f" (±{accuracy:g} m)" if accuracy else ""))
    if message.contact is not None:
        contact = message.contact
        name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
        number = contact.phone.value if contact.phone else contact.phone_number
        lines.append(f"Contact: {name}, {number}" if name else f"Contact: {number}")
    return "\n".join(lines)
