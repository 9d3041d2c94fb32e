"""Tests of the SMS channel's Twilio-compatible adapter."""
