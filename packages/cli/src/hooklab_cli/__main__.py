from hooklab_cli.main import main

main()
