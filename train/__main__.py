from train import distributed
from train.cli import main

distributed.exit_process(main())
