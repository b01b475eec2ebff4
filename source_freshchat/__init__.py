from .source import SourceFreshchat

__all__ = ["SourceFreshchat"]
