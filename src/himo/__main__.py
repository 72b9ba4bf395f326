from himo.cli.main import main

main()
