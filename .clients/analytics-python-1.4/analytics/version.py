VERSION = '1.4.post1'
