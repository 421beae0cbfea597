print("tiesim")
