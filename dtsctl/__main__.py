from dtsctl.cli.main import main

main()
