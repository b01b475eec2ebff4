from source_freshchat.run import run

if __name__ == "__main__":
    run()
