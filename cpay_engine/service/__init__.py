"""The service layer: the request pipeline and one handler per use case."""
