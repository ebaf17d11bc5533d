"""Deterministic augmentation parameters and image augmentation ops."""
