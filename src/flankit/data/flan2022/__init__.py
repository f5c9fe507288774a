"""The Flan 2022 collection: FLAN's templates, the Muffin (Flan 2021) tasks and their loaders."""
