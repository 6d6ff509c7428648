from ecrwatch.entry import run

run()
