from ecrwatch.cli import main

main()
