"""trajotel.receive"""
