"""The CLI skin: parse, call plain functions, render. No work happens here."""
