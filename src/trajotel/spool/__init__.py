"""trajotel.spool"""
