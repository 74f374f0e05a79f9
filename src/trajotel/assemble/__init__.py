"""trajotel.assemble"""
