"""Models: the Caduceus DNA encoder in pure PyTorch (`caduceus`), its selective scan (`scan`) and
loading/saving of Hugging Face checkpoint folders (`hub`)."""
