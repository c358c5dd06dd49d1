"""Billing: one `Call.Billed` event per gateway tool call, priced by the service's pricing."""
