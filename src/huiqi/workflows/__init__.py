"""Operations that cross domains (application state and money), in one place."""
