"""The Flan 2022 collection: its sources, templates and published submixes."""
